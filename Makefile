# The two commands: `make run` and `make test` (see README.md).
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed

.PHONY: run test setup lint bench doctor
# What `make test` runs again on PostgreSQL (scripts/test-postgres): the run queue with
# two lab hosts, hosts and the sweeper, run quotas, a real worker killed mid-run, quiz
# answers surviving a killed server, predictions read from runs' JSON, and the
# sign-in's address column. Kept small: a few minutes at most.
POSTGRES_TESTS := tests/labs/test_two_hosts.py tests/labs/test_hosts.py tests/labs/test_stale.py \
	tests/labs/test_views.py tests/labs/test_worker.py::test_killed_worker_leaves_nothing_after_the_sweep \
	tests/courseware/test_crash_safety.py tests/courseware/test_grading.py \
	tests/courseware/test_quiz_predict.py \
	tests/courseware/test_throttling.py::test_a_forged_forwarded_address_still_signs_in

# pytest-xdist's processes for `make test`: one per core here. The tests are written to
# run beside each other (and beside a served virtlab): each process has its own test
# database, sandbox ids and instance (tests/conftest.py). `make test TEST_PROCESSES=1`
# runs them in one process; `TEST_PROCESSES=0` without pytest-xdist at all.
TEST_PROCESSES ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_PROCESSES) --dist worksteal

# Reinstall Python packages only when the dependency list changes.
$(STAMP): pyproject.toml scripts/make-venv
	scripts/make-venv $(VENV)
	touch $@

# Everything `make run` and `make test` share: packages, guest assets, database, course.
setup: $(STAMP)
	scripts/host-packages run
	$(PY) manage.py build_guest_assets
	$(PY) scripts/vendor-xterm
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py import_course --seed
	@# Probe the host once (KVM or TCG, runtimes, assets) so the lab pages know what runs here.
	$(PY) manage.py sandbox_doctor || echo "Some labs cannot run on this host (see above)."
	@# Last, so the demo passwords (printed once, on the first start) are not lost among
	@# the output above.
	$(PY) manage.py create_demo_users

run: setup
	scripts/serve

test: setup
	scripts/host-packages test
	scripts/test-assets
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PYTEST) -m "not exclusive"
	@# Tests that compare CPU throughput with a whole core's, alone on the machine.
	$(PY) -m pytest -p no:cacheprovider -m exclusive
	@# Then the modules that lean on what the database guarantees (the shared run queue,
	@# two lab hosts, row locks, quotas, quiz answers) again on PostgreSQL: a throwaway
	@# cluster in var/, on a unix socket only, removed afterwards even if they fail.
	scripts/test-postgres run $(PYTEST) -p no:cacheprovider $(POSTGRES_TESTS)

lint: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

doctor: $(STAMP)
	$(PY) manage.py sandbox_doctor

bench: setup
	$(PY) bench/sandbox_overhead.py
	$(PY) bench/lab_latency.py
	$(PY) bench/vm_restore.py
	$(PY) bench/page_throughput.py
	$(PY) bench/pages_under_load.py
	$(PY) bench/terminal_latency.py
