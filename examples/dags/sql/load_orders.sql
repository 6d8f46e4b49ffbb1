insert into {{ params.table }}
select * from staging.orders where order_date = '{{ ds }}';
