"""Code shared by the ConditionalSwin Slicer modules; imports neither Qt nor torch at import time.

* ``process``: the ``condswin`` command-line process (typed progress events, exit-code messages, cancel that
  ends the whole process tree) behind the small :class:`~condswin_slicer.process.CondswinProcess` interface
  that module logics take (as a factory) so tests can inject a fake;
* ``job``: one module run (its commands in turn, a run folder, results loaded only on success), polled;
* ``logic``: the base of the module logics (scene, process factory, run folders removed when a start fails);
* ``mrml``: volume nodes to and from NRRD with their geometry, input checks, tables, study placement;
* ``parameters``: module parameters kept in the scene's parameter node (``parameterNodeWrapper`` in Slicer);
* ``widget_support``: what the panels share (Apply↔Cancel, progress, log, the timer-driven run controller);
* ``module_support``: what the module files share (the panel from the .ui, the self-test);
* ``batch``: batch runs over a folder (options, input files, the per-file loop, exit codes); each module's part
  comes from the batch script (``SlicerBatch/condswin_batch``), which sits above the modules;
* ``sample_data``: the extension's samples in Slicer's SampleData module;
* ``install``: dependencies installed after the user agreed; ``i18n``: the translation function.

It imports no module's ``<Module>Lib`` package: what the modules share lives here, below them.
"""
