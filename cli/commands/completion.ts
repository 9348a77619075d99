import { Argument, type Command } from 'commander';
import { bashCompletion, zshCompletion } from '../completion';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('Print the shell completion script for bash or zsh (commands and options, from this command tree)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .addHelpText('after', [
      '',
      'Examples:',
      '  $ source <(keyrotor completion bash)                 # this shell; add it to ~/.bashrc to keep it',
      '  $ keyrotor completion bash > /etc/bash_completion.d/keyrotor',
      '  $ keyrotor completion zsh > "${fpath[1]}/_keyrotor"  # then start a new zsh (compinit loads it)',
    ].join('\n'))
    .action((shell: 'bash' | 'zsh') => {
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
