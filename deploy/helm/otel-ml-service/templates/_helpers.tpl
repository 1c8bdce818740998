{{/* Names and labels shared by every object of the chart. */}}

{{- define "otel-ml.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "otel-ml.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: include "otel-ml.selector" (list . "gateway") */}}
{{- define "otel-ml.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "otel-ml.agentHost" -}}
{{ include "otel-ml.fullname" . }}-agent.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{- define "otel-ml.gatewayHeadless" -}}
{{ include "otel-ml.fullname" . }}-gateway-headless
{{- end -}}

{{/* Non-root, read-only, no privilege: every container of the chart. */}}
{{- define "otel-ml.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
