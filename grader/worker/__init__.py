"""The child side of the sandbox: everything that runs next to the student's code."""
