{{/* Names ---------------------------------------------------------------------------- */}}

{{- define "rex.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rex.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rex.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of one worker's Deployment (and ScaledObject/HPA). Call with (list $ $worker). */}}
{{- define "rex.workerName" -}}
{{- $root := index . 0 -}}
{{- $worker := index . 1 -}}
{{- $name := printf "%s-worker-%s" (include "rex.fullname" $root) $worker.name -}}
{{- if gt (len $name) 63 -}}
{{- fail (printf "worker %q: resource name %q is longer than 63 characters; shorten the release name or fullnameOverride" $worker.name $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "rex.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rex.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rex.secretName" -}}
{{- default (include "rex.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "rex.providerSecretName" -}}
{{- printf "%s-providers" (include "rex.fullname" .) -}}
{{- end -}}

{{- define "rex.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The port of config.httpAddr ("0.0.0.0:8080" -> 8080). */}}
{{- define "rex.httpPort" -}}
{{- splitList ":" .Values.config.httpAddr | last | atoi -}}
{{- end -}}

{{- define "rex.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.graceSeconds .Values.shutdown.marginSeconds -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------------- */}}

{{- define "rex.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rex.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rex.labels" -}}
helm.sh/chart: {{ include "rex.chart" . }}
{{ include "rex.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rex
{{- end -}}

{{/* Pod pieces shared by every Rex workload ------------------------------------------ */}}

{{/* Pod annotations: a config or secret change rolls the pods. */}}
{{- define "rex.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- if .Values.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "rex.httpPort" . | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "rex.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rex.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rex.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "rex.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Environment of every long-running Rex container: the ConfigMap, the URLs from the
     Secret, the provider credentials. */}}
{{- define "rex.envFrom" -}}
- configMapRef:
    name: {{ include "rex.fullname" . }}
{{- if .Values.secrets.providerEnv }}
- secretRef:
    name: {{ include "rex.providerSecretName" . }}
{{- end }}
{{- with .Values.secrets.existingProviderSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "rex.connectionEnv" -}}
- name: REX_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "rex.secretName" . }}
      key: {{ .Values.secrets.keys.databaseUrl }}
- name: REX_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "rex.secretName" . }}
      key: {{ .Values.secrets.keys.amqpUrl }}
{{- end -}}

{{- define "rex.ports" -}}
- name: http
  containerPort: {{ include "rex.httpPort" . }}
  protocol: TCP
{{- end -}}

{{- define "rex.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet:
    path: {{ $p.startup.path }}
    port: http
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: {{ $p.liveness.path }}
    port: http
  initialDelaySeconds: {{ $p.liveness.initialDelaySeconds }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: {{ $p.readiness.path }}
    port: http
  initialDelaySeconds: {{ $p.readiness.initialDelaySeconds }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Scheduling and identity of every Rex pod. */}}
{{- define "rex.podCommon" -}}
serviceAccountName: {{ include "rex.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "rex.podSecurityContext" . | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Checks of values that the JSON schema cannot express. */}}
{{- define "rex.validate" -}}
{{- $seen := dict -}}
{{- range .Values.workers -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "workers: agent %q is listed twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- if lt (int .prefetch) (int .concurrency) -}}
{{- fail (printf "workers[%s]: prefetch (%d) must be at least concurrency (%d), or attempts sit idle" .name (int .prefetch) (int .concurrency)) -}}
{{- end -}}
{{- if lt (int .autoscaling.maxReplicas) (int .autoscaling.minReplicas) -}}
{{- fail (printf "workers[%s]: autoscaling.maxReplicas (%d) is below minReplicas (%d)" .name (int .autoscaling.maxReplicas) (int .autoscaling.minReplicas)) -}}
{{- end -}}
{{- if and .autoscaling.enabled (not $.Values.keda.enabled) (not (dig "requests" "cpu" "" .resources)) -}}
{{- fail (printf "workers[%s]: the CPU HorizontalPodAutoscaler (keda.enabled: false) needs resources.requests.cpu" .name) -}}
{{- end -}}
{{- end -}}
{{- range $component := list "api" "orchestrator" -}}
{{- $v := index $.Values $component -}}
{{- if and (dig "enabled" true $v) $v.podDisruptionBudget.enabled (ge (int $v.podDisruptionBudget.minAvailable) (int $v.replicas)) -}}
{{- fail (printf "%s: podDisruptionBudget.minAvailable (%d) must be below replicas (%d), or no node can ever be drained" $component (int $v.podDisruptionBudget.minAvailable) (int $v.replicas)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq .Values.keda.rabbitmq.protocol "http") (not .Values.secrets.existingSecret) (not .Values.secrets.rabbitmqManagementUrl) -}}
{{- fail "keda.rabbitmq.protocol http needs secrets.rabbitmqManagementUrl (or secrets.existingSecret holding it)" -}}
{{- end -}}
{{- end -}}
