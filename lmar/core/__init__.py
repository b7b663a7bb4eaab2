"""Core: what every other room stands on (errors, atomic writes, path components, parameter
declarations, the part registries, the runtime, log set-up, provenance, code fingerprints, file hashes, the
metric table). Imports nothing from the rooms above it."""
