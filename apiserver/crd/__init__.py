"""CustomResourceDefinitions: validating CRDs, serving the kinds they add, checking custom objects.

`schema` checks a CRD's openAPIV3Schema is structural; `structural` prunes and
defaults custom objects; `validate` checks them against the schema;
`strategy` holds the write-path rules of CRDs and custom objects; `controller`
keeps the kind registry in step with the stored CRDs.
"""
