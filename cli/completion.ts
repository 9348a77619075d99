import type { Command, Option } from 'commander';

/**
 * Shell completion for bash and zsh, written from the command tree itself, so that it offers exactly the commands and
 * options `keyrotor --help` lists. The script holds the tree: pressing TAB runs no keyrotor process.
 */
interface Node {
  /** The words that lead here, space-separated ('' for keyrotor itself, 'keys list', ...). */
  path: string;
  subcommands: Array<{ name: string; summary: string }>;
  /** The values of its first argument, when they are a fixed set (`completion bash|zsh`). */
  argumentChoices: string[];
  options: Array<{ flag: string; summary: string; takesValue: boolean; choices: string[] }>;
}

function summaryOf(command: Command): string {
  return (command.summary() || command.description()).split('\n')[0]!.replace(/\s*\([^)]*\)\s*$/, '');
}

function flagsOf(option: Option): string[] {
  return [option.long, option.short].filter((flag): flag is string => typeof flag === 'string');
}

/** Every command with its visible subcommands and options (hidden ones stay out, as they do from --help). */
export function completionTree(program: Command): Node[] {
  const nodes: Node[] = [];
  const visit = (command: Command, path: string): void => {
    const help = command.createHelp();
    const subcommands = help.visibleCommands(command).filter((sub) => sub.name() !== 'help');
    const options = help.visibleOptions(command).flatMap((option) =>
      flagsOf(option).map((flag) => ({ flag, summary: option.description, takesValue: option.required || option.optional, choices: option.argChoices ?? [] })));
    const argumentChoices = command.registeredArguments[0]?.argChoices ?? [];
    nodes.push({ path, subcommands: subcommands.map((sub) => ({ name: sub.name(), summary: summaryOf(sub) })), argumentChoices, options });
    for (const sub of subcommands) visit(sub, path === '' ? sub.name() : `${path} ${sub.name()}`);
  };
  visit(program, '');
  return nodes;
}

/** How a shell writes a list of words, and a list whose words come with a summary. */
interface ShellLists {
  words(words: string[]): string;
  described(items: Array<{ word: string; summary: string }>): string;
}

/**
 * The tree as two shell functions: `_keyrotor_node PATH` sets the subcommands, argument values, options and options
 * that take a value of the command at PATH; `_keyrotor_values 'PATH FLAG'` sets the values an option accepts.
 */
function treeFunctions(nodes: Node[], lists: ShellLists): string {
  const cases = nodes.map((node) => [
    `    '${node.path}')`,
    `      subcommands=${lists.described(node.subcommands.map((s) => ({ word: s.name, summary: s.summary })))}`,
    `      arguments=${lists.words(node.argumentChoices)}`,
    `      options=${lists.described(node.options.map((o) => ({ word: o.flag, summary: o.summary })))}`,
    `      valued=${lists.words(node.options.filter((o) => o.takesValue).map((o) => o.flag))} ;;`,
  ].join('\n'));
  const valueCases = nodes.flatMap((node) => node.options.filter((o) => o.choices.length > 0).map((o) => `    '${node.path} ${o.flag}') values=${lists.words(o.choices)} ;;`));
  const none = lists.words([]);
  return `_keyrotor_node() {
  case "$1" in
${cases.join('\n')}
    *) subcommands=${none} arguments=${none} options=${none} valued=${none} ;;
  esac
}

_keyrotor_values() {
  case "$1" in
${valueCases.join('\n')}
    *) values=${none} ;;
  esac
}
`;
}

const bashWords = (words: string[]): string => `'${words.join(' ')}'`;
/** bash offers words without their summaries. */
const bashLists: ShellLists = { words: bashWords, described: (items) => bashWords(items.map((item) => item.word)) };

/** For `source <(keyrotor completion bash)`, or a file in /etc/bash_completion.d/. */
export function bashCompletion(program: Command): string {
  return `# keyrotor completion for bash: source <(keyrotor completion bash), or save it in /etc/bash_completion.d/keyrotor
${treeFunctions(completionTree(program), bashLists)}
_keyrotor() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' word i subcommands arguments options valued values
  # The command path so far: the words that name subcommands, skipping options and the values they take.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    _keyrotor_node "$path"
    if [[ "$word" == -* ]]; then
      [[ " $valued " == *" $word "* ]] && ((i++))
      continue
    fi
    [[ " $subcommands " == *" $word "* ]] && path="\${path:+$path }$word"
  done
  _keyrotor_node "$path"
  local previous="\${COMP_WORDS[COMP_CWORD-1]}"
  if ((COMP_CWORD > 1)) && [[ " $valued " == *" $previous "* ]]; then
    _keyrotor_values "$path $previous"
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
    return
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subcommands $arguments" -- "$cur"))
  fi
}

complete -o default -F _keyrotor keyrotor
`;
}

/** zsh describes each choice: `name:summary`, colons in the summary escaped. */
const described = (name: string, summary: string): string => `'${`${name}:${summary.replace(/:/g, '\\:')}`.replace(/'/g, `'\\''`)}'`;
const zshLists: ShellLists = {
  words: (words) => `(${words.join(' ')})`,
  described: (items) => `(${items.map((item) => described(item.word, item.summary)).join(' ')})`,
};

/** For a file named _keyrotor on $fpath, or `source <(keyrotor completion zsh)` after compinit. */
export function zshCompletion(program: Command): string {
  return `#compdef keyrotor
# keyrotor completion for zsh: save it as _keyrotor in a folder of $fpath, or source <(keyrotor completion zsh) after compinit
${treeFunctions(completionTree(program), zshLists)}
_keyrotor() {
  local cmdpath='' word i
  local -a subcommands arguments options valued values
  # The command path so far: the words that name subcommands, skipping options and the values they take.
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    _keyrotor_node "$cmdpath"
    if [[ $word == -* ]]; then
      (( \${valued[(Ie)$word]} )) && ((i++))
      continue
    fi
    (( \${subcommands[(I)$word:*]} )) && cmdpath=\${cmdpath:+$cmdpath }$word
  done
  _keyrotor_node "$cmdpath"
  if (( CURRENT > 2 )) && (( \${valued[(Ie)\${words[CURRENT-1]}]} )); then
    _keyrotor_values "$cmdpath \${words[CURRENT-1]}"
    if (( \${#values} )); then compadd -a values; else _files; fi
  elif [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options 'option' options
  elif (( \${#subcommands} )); then
    _describe -t commands 'command' subcommands
  elif (( \${#arguments} )); then
    compadd -a arguments
  else
    _files
  fi
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _keyrotor "$@"
else
  compdef _keyrotor keyrotor
fi
`;
}
