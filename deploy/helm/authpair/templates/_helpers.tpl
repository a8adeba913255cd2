{{/* Names and labels, shared by every template. */}}
{{- define "authpair.fullname" -}}
{{- printf "%s-authpair" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "authpair.labels" -}}
app.kubernetes.io/name: authpair
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The selector of one component ("auth" or "resource"). */}}
{{- define "authpair.selector" -}}
app.kubernetes.io/name: authpair
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "authpair.secretName" -}}
{{- default (printf "%s-secrets" (include "authpair.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* An environment variable from a key of the secrets. */}}
{{- define "authpair.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "authpair.secretName" .root }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end -}}

{{/* The address a service listens on: loopback on the host's network. */}}
{{- define "authpair.listen" -}}
{{- if .root.Values.hostNetwork -}}127.0.0.1:{{ .port }}{{- else -}}0.0.0.0:{{ .port }}{{- end -}}
{{- end -}}

{{/* The pod security settings both services run with. */}}
{{- define "authpair.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "authpair.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Refuses values that cannot work. */}}
{{- define "authpair.check" -}}
{{- if not .Values.auth.publicUrl -}}
{{- fail "auth.publicUrl is required: it is the tokens' issuer and the metadata's base URL" -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- if not .Values.secrets.masterKey -}}{{- fail "secrets.masterKey (or secrets.existingSecret) is required: signing keys are sealed with it" -}}{{- end -}}
{{- if not .Values.secrets.feedSecret -}}{{- fail "secrets.feedSecret (or secrets.existingSecret) is required: the resource services follow the revocation feed with it" -}}{{- end -}}
{{- if and (gt (int .Values.auth.replicas) 1) (not .Values.secrets.authDatabaseUrl) -}}
{{- fail "auth.replicas > 1 needs secrets.authDatabaseUrl (PostgreSQL): on SQLite each replica would hold users, sessions and keys of its own" -}}
{{- end -}}
{{- if and (gt (int .Values.resource.replicas) 1) (not .Values.secrets.resourceDatabaseUrl) -}}
{{- fail "resource.replicas > 1 needs secrets.resourceDatabaseUrl (PostgreSQL): on SQLite each replica would hold documents of its own" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (or (not .Values.secrets.authDatabaseUrl) (not .Values.secrets.resourceDatabaseUrl)) -}}
{{- fail "autoscaling needs both database URLs (PostgreSQL)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
