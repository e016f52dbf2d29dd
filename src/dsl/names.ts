// Names users give to stores and internal topics become parts of Kafka topic names.
const legalName = /^[a-zA-Z0-9._-]{1,200}$/;

export function checkName(what: string, name: string): string {
  if (!legalName.test(name)) {
    throw new Error(`topology: ${what} "${name}" may only contain letters, digits, '.', '_' and '-'`);
  }
  return name;
}
