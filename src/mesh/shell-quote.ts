/**
 * The quoting istioctl applies to cluster.env values (alessio/shellescape.Quote): values made only
 * of safe characters stay bare, everything else is single-quoted with ' written as '"'"'.
 */
const UNSAFE = /[^\w@%+=:,./-]/;

export function shellQuoteLikeIstioctl(value: string): string {
  if (value === '') return "''";
  if (!UNSAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}
