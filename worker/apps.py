from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Sentimeter worker"

    def ready(self) -> None:
        from worker import checks  # noqa: F401 - registers the system checks
