"""The experiment harness (not learning): ``registry`` (the paper's experiments and their units), ``runner``
(resumable, parallel), ``report`` (tables and curves), ``metrics`` (CSV and TensorBoard logs)."""
