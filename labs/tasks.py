from django.tasks import task

from .runner import execute_run


@task(queue_name="labs")
def run_lab_task(run_id: int) -> str:
    return execute_run(run_id).status
