"""The run's report: the typed results document (model), the statistics it is summarised
with (stats), and the files made from it (writer: markdown, html, files; scan checks them)."""
