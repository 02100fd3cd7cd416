#!/bin/bash
# The driver/executor entrypoint of Spark's Kubernetes images (Spark's
# resource-managers/kubernetes/docker/src/main/dockerfiles/spark/entrypoint.sh), its two modes
# only: that file is in Spark's repository, not in PySpark's package, and no build here can
# fetch it. spark-submit in cluster mode starts the driver pod with `driver <args>` and
# executors with `executor`; the rest (SPARK_* variables) is what Spark's file passes too.
set -e
case "$1" in
  driver)
    shift 1
    # spark.driver.host: the pod's IP, not Spark's driver Service name: the node cluster's
    # resolver knows only the service names the harness registers, not the Services Spark
    # makes per driver (executors failed with UnknownHostException on it).
    exec "${SPARK_HOME}/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.driver.host=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift 1
    exec java -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
      -cp "${SPARK_HOME}/conf::${SPARK_HOME}/jars/*" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL}" --executor-id "${SPARK_EXECUTOR_ID}" \
      --cores "${SPARK_EXECUTOR_CORES}" --app-id "${SPARK_APPLICATION_ID}" \
      --hostname "${SPARK_EXECUTOR_POD_IP}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
      --podName "${SPARK_EXECUTOR_POD_NAME}"
    ;;
  *)
    exec "$@"
    ;;
esac
