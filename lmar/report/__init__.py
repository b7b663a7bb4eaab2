"""Report: everything made from the results store alone (store.py, the hub): table blocks, tables,
statistics, verdicts, claims, plots, figures and the notes of what was left out."""
