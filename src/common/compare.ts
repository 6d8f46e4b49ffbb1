/** Orders strings by UTF-16 code units, the same on every machine (no locale collation). */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
