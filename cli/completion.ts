import type { Command, Option } from 'commander';

/**
 * `cloudcard completion bash`: a bash completion script made from the command tree itself, so it never
 * lags behind the commands. It completes subcommands at every level, then the options of the command the
 * words so far name (global options included).
 */
export function bashCompletion(program: Command): string {
  const nodes: [path: string, subcommands: string[], options: string[]][] = [];
  const globals = optionFlags(program.options);
  const walk = (command: Command, path: string): void => {
    const subcommands = command.commands.map((sub) => sub.name()).filter((name) => name !== 'help');
    nodes.push([path, subcommands, [...new Set([...optionFlags(command.options), ...globals, '--help'])]]);
    for (const sub of command.commands) walk(sub, `${path} ${sub.name()}`);
  };
  // Keys are the command words from the program's own name (bash refuses an empty array key).
  walk(program, program.name());
  const entries = (pick: (node: (typeof nodes)[number]) => string[]) => nodes.map((node) => `  [${quote(node[0])}]=${quote(pick(node).join(' '))}`).join('\n');
  const name = program.name();
  return `# bash completion for ${name}: source it, or save it as /etc/bash_completion.d/${name}
#   source <(${name} completion bash)
_${name}_complete() {
  local -A subcommands=(
${entries((node) => node[1])}
  )
  local -A options=(
${entries((node) => node[2])}
  )
  local node="${name}" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ $word == -* ]] && continue
    local next="$node $word"
    [[ -n "\${subcommands[$next]+set}" ]] && node="$next"
  done
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "\${options[$node]}" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "\${subcommands[$node]}" -- "$cur"))
  fi
}
complete -F _${name}_complete ${name}
`;
}

const optionFlags = (options: readonly Option[]): string[] =>
  options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => Boolean(flag)));
const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
