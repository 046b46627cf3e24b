"""Server-side apply and field ownership (`metadata.managedFields`).

Pure modules: `listtypes` (which lists merge by key: one table shared with strategic
merge patch), `fieldset` (the paths an object sets, FieldsV1 encoding), `merge` (apply and
the ownership bookkeeping of every other write); `manager` carries the writing manager
of a request to the typed core.
"""
