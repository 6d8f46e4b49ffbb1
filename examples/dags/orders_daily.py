"""Loads yesterday's orders into the warehouse."""

from datetime import datetime

from airflow import DAG
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from helpers.naming import table_for

with DAG(
    dag_id="orders_daily",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["orders"],
) as dag:
    SQLExecuteQueryOperator(
        task_id="load_orders",
        conn_id="warehouse",
        sql="sql/load_orders.sql",
        params={"table": table_for("orders")},
    )
