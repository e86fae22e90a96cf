"""Stress tests of the user's own shared state: the API a test is written with (api), how an
outcome is graded (grading), the engine that runs actors over strides of states (engine), what
it observed (result), and how tests are found from a target (loading). Standard library only."""
