"""Datasets: image I/O, paired {train,test}/{input,gt} folders, and dataset sources."""
