// Placeholder so lockq_testlib has a source before the harnesses land.
