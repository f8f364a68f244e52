/** What every bench reads from its command line: `--json` for machines, and `--name value` options. */
export function benchArgs(argv: string[] = process.argv.slice(2)) {
  const json = argv.includes('--json');
  const option = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
  };
  return {
    json,
    option,
    number: (name: string, dflt: number): number => Number(option(name, String(dflt))),
    /** Human-readable lines, silenced under --json so that only the JSON reaches stdout. */
    log: (line: string): void => {
      if (!json) console.log(line);
    },
  };
}
