"""Report: everything made from the results store alone (store.py, the hub): table blocks, tables
(LaTeX laid out by latex.py), statistics, verdicts, claims, plots, figures and the notes of what was left out."""
