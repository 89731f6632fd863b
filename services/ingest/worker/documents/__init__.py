"""Documents in the worker: content sniffing, real conversions (LibreOffice for the
office formats, PDFium, WeasyPrint, markdown-it and polars for the rest), text
extraction, keyword search, top keywords, language and tonality.

Everything that parses a user's document runs out of the worker's process: in a
child forked per job from a pre-loaded fork server (:mod:`.sandbox`), or in a
LibreOffice process with a private profile (:mod:`.office`). Both have a timeout, a
memory limit, no network when the host allows it, and are killed with their whole
process tree when they overrun, so a hostile document fails its job with a reason and
the worker lives on. :class:`.processor.DocumentProcessor` is the facade the job
handlers use.
"""
