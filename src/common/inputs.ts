import * as core from '@actions/core'
import { InputError } from './errors.js'
import { escapeText } from './untrusted.js'

// Strict readers for action inputs. Every reader names the input in its error and says what is
// allowed, so a typo fails the step before anything is changed instead of silently meaning "false".

export function optionalString(name: string): string | undefined {
  const value = core.getInput(name).trim()
  return value === '' ? undefined : value
}

export function requiredString(name: string, hint = ''): string {
  const value = optionalString(name)
  if (value === undefined) {
    throw new InputError(name, `is required and was not given${hint ? `; ${hint}` : ''}`)
  }
  return value
}

const TRUE_VALUES = ['true', 'True', 'TRUE']
const FALSE_VALUES = ['false', 'False', 'FALSE']

/** YAML 1.2 booleans only: `yes`, `1` or a typo is an error, never a silent `false`. */
export function booleanInput(name: string, fallback: boolean): boolean {
  const value = core.getInput(name).trim()
  if (value === '') return fallback
  if (TRUE_VALUES.includes(value)) return true
  if (FALSE_VALUES.includes(value)) return false
  throw new InputError(name, `must be true or false, got '${value}'`)
}

export function integerInput(
  name: string,
  fallback: number,
  range: { min: number; max: number }
): number {
  const value = core.getInput(name).trim()
  if (value === '') return fallback
  if (!/^[0-9]+$/.test(value)) {
    throw new InputError(
      name,
      `must be a whole number from ${range.min} to ${range.max}, got '${value}'`
    )
  }
  const parsed = Number(value)
  if (parsed < range.min || parsed > range.max) {
    throw new InputError(name, `must be from ${range.min} to ${range.max}, got ${parsed}`)
  }
  return parsed
}

export function choiceInput<T extends string>(name: string, choices: readonly T[]): T | undefined {
  const value = optionalString(name)
  if (value === undefined) return undefined
  const match = choices.find((choice) => choice === value)
  if (match === undefined) {
    throw new InputError(name, `must be one of ${choices.join(', ')}; got '${value}'`)
  }
  return match
}

/** Newline-separated values; blank lines and lines starting with `#` are ignored. */
export function listInput(name: string): string[] {
  return core
    .getInput(name)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
}

/** A number of `unit` (minutes, seconds), decimals allowed. */
export function decimalInput(
  name: string,
  fallback: number,
  range: { min: number; max: number; unit: string }
): number {
  const value = core.getInput(name).trim()
  if (value === '') return fallback
  const parsed = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN
  if (!(parsed >= range.min && parsed <= range.max)) {
    throw new InputError(
      name,
      `must be a number of ${range.unit} from ${range.min} to ${range.max}, got '${escapeText(value)}'`
    )
  }
  return parsed
}
