#!/bin/sh
# Writes the site's index page; runs inside the build's first stage.
title="$1"
cat <<HTML
<!doctype html>
<html><head><title>$title</title><link rel="stylesheet" href="static/site.css"></head>
<body><h1>$title</h1><p>generated at build time by $(uname -s) $(busybox | head -1 | cut -d' ' -f1-2)</p></body></html>
HTML
