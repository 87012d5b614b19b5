"""MRIRecon's logic (no Qt): parameters, volume I/O shared with MRIDenoise, the reconstruction logic, the
fastMRI file reader's work; ``widget`` is the Qt side and is imported only inside Slicer."""
