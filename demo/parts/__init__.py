"""One module per system the demo shows; each ``feed(ctx)`` makes sure the demo account
holds its sample data (sending it only when the platform does not have it yet), waits
for the processing, and answers the :class:`~demo.summary.Section` to print, or a
:class:`~demo.summary.Skipped` saying why it cannot be shown."""
