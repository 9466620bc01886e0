"""Interactive ipywidgets explorers for the notebooks (imported on demand, not by devmem_lab)."""
