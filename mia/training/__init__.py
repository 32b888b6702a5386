"""Training: the engine that trains one model or many (``engine``, ``many_models``), the
reference bank (``bank``), and the jobs that describe each training (``jobs``)."""
