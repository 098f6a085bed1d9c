"""The spark-perf stage: databricks/spark-perf's MLlib K-means test, run through the Spark dispatcher.

- `kmeans`   the PySpark application itself; it imports nothing from Corral, because it is
             copied to the agents and run there by spark-submit
- `stage`    `corral spark perf`: every (mode, scale factor) submitted through Spark's REST
             protocol and run to its end, then the report
- `report`   spark-perf's statistics of the results, and the JSON, CSV, markdown and PNG report
"""
