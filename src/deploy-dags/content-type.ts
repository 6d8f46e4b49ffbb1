// Content-Type by extension for the files a DAG repository holds. Workers read the bytes whatever
// the type; the type matters to people browsing the bucket and to tools that serve from it.
const TYPES: Record<string, string> = {
  py: 'text/x-python; charset=utf-8',
  pyi: 'text/x-python; charset=utf-8',
  sql: 'application/sql; charset=utf-8',
  json: 'application/json',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  toml: 'application/toml',
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  cfg: 'text/plain; charset=utf-8',
  ini: 'text/plain; charset=utf-8',
  conf: 'text/plain; charset=utf-8',
  sh: 'text/x-shellscript; charset=utf-8',
  j2: 'text/plain; charset=utf-8',
  jinja: 'text/plain; charset=utf-8',
  jinja2: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  xml: 'application/xml',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  whl: 'application/zip',
  parquet: 'application/vnd.apache.parquet',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml'
}

const DEFAULT_TYPE = 'application/octet-stream'

export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1)
  // Extensionless dotfiles (.airflowignore) and files such as Makefile are text in practice.
  if (name.startsWith('.') && !name.slice(1).includes('.')) return 'text/plain; charset=utf-8'
  const dot = name.lastIndexOf('.')
  if (dot <= 0) return DEFAULT_TYPE
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? DEFAULT_TYPE
}
