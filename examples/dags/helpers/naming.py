"""Shared by the DAGs; listed in .airflowignore so the scheduler does not parse it as a DAG."""


def table_for(entity: str) -> str:
    return f"analytics.{entity}_daily"
