"""The test and bench harness: the whole local stack in a child process (``RunningStack``), and
waiting on a condition with a deadline (``wait_until``). Not part of the product: the wheel does
not ship it; the end-to-end tests and the bench (``bench/``) import it, nothing under ``cli/`` or
below does."""
