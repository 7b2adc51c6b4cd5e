/**
 * Renders the path of a field in user input the way error messages name it:
 * `spec.ingress[0].toPorts[0].ports[0].port`. Keys that are not plain words
 * (label keys with dots or slashes) are quoted: `matchLabels["app.kubernetes.io/name"]`.
 */
export function formatFieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** Joins a prefix such as `spec.ingress[0]` and a relative path such as `toPorts[0]`. */
export function joinFieldPath(prefix: string, rest: string): string {
  if (prefix === '') return rest;
  if (rest === '') return prefix;
  return rest.startsWith('[') ? prefix + rest : `${prefix}.${rest}`;
}
