export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type Template = {
  Parameters: Record<
    string,
    { Type: string; Default?: string | number; [key: string]: Json | undefined }
  >
  Conditions: Record<string, Json>
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, Json> }>
  Outputs: Record<string, { Value: Json; Condition?: string }>
}
export const TEMPLATE_PATH: string
export const ACCOUNT: string
export const REGION: string
export function parseTemplate(text: string): Template
export function loadTemplate(path?: string): Template
export function resolveTemplate(
  template: Template,
  given: Record<string, string>,
  stackName?: string
): {
  conditions: Record<string, boolean>
  resources: Template['Resources']
  outputs: Record<string, Json>
}
