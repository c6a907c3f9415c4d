{{- define "pace.name" -}}pace-operator{{- end -}}

{{- define "pace.labels" -}}
app.kubernetes.io/name: {{ include "pace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pace.selector" -}}
app.kubernetes.io/name: {{ include "pace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pace.sinkUrl" -}}
http://{{ include "pace.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.inferenceLog.port }}/
{{- end -}}
