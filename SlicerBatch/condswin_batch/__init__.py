"""The batch script of the ConditionalSwin modules: ``run.py`` runs one module over a folder inside Slicer,
``tasks.py`` holds each module's part (its options checks, its logic, the run of one file). It sits above the
three modules and the shared ``condswin_slicer`` package, which imports no module."""
