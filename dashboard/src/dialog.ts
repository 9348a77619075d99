import { ApiError } from './api';
import { h, replaceChildren, type Child } from './dom';

export interface DialogField {
  name: string;
  label: string;
  kind: 'text' | 'textarea' | 'checkbox';
  placeholder?: string;
  value?: string;
  hint?: string;
}

export interface ActionDialogSpec {
  id: string;
  title: string;
  intro: Child;
  fields: DialogField[];
  confirmLabel: string;
  danger?: boolean;
  /** Whether the confirm button may be pressed with these values. */
  valid: (values: Record<string, string | boolean>) => boolean;
  /** Does the action; a thrown ApiError is shown in the dialog, which stays open. */
  submit: (values: Record<string, string | boolean>) => Promise<string>;
  onDone: (message: string) => void;
}

/** A modal that asks for a reason (and a confirmation) before an action, and shows the API's refusal if there is one. */
export function openActionDialog(spec: ActionDialogSpec): HTMLDialogElement {
  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const error = h('p', { class: 'dialog-error', role: 'alert' });
  const confirm = h('button', { type: 'submit', class: spec.danger ? 'danger' : 'primary', 'data-action': 'confirm', disabled: true }, spec.confirmLabel);
  const values = (): Record<string, string | boolean> =>
    Object.fromEntries([...inputs].map(([name, input]) => [name, input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value.trim()]));
  const update = (): void => {
    confirm.disabled = !spec.valid(values());
  };
  const fields = spec.fields.map((field) => {
    const input =
      field.kind === 'textarea'
        ? h('textarea', { name: field.name, rows: 3, placeholder: field.placeholder ?? '', onInput: update })
        : h('input', { name: field.name, type: field.kind, placeholder: field.placeholder ?? '', value: field.value ?? '', autocomplete: 'off', spellcheck: 'false', onInput: update, onChange: update });
    inputs.set(field.name, input);
    return field.kind === 'checkbox'
      ? h('label', { class: 'check' }, input, ' ', field.label)
      : h('label', null, field.label, input, field.hint ? h('small', null, field.hint) : null);
  });
  const dialog = h('dialog', { class: 'action-dialog', id: spec.id });
  const cancel = h('button', { type: 'button', 'data-action': 'cancel', onClick: () => dialog.close() }, 'Cancel');
  const form = h(
    'form',
    {
      onSubmit: (event: Event) => {
        event.preventDefault();
        if (!spec.valid(values())) return;
        confirm.disabled = true;
        confirm.textContent = 'working…';
        replaceChildren(error);
        spec.submit(values()).then(
          (message) => {
            dialog.close();
            spec.onDone(message);
          },
          (failure: unknown) => {
            replaceChildren(error, failure instanceof ApiError ? `refused (${failure.status} ${failure.code}): ${failure.message}` : String(failure));
            confirm.textContent = spec.confirmLabel;
            update();
          },
        );
      },
    },
    h('h2', null, spec.title),
    h('div', { class: 'dialog-intro' }, spec.intro),
    fields,
    error,
    h('div', { class: 'dialog-buttons' }, cancel, confirm),
  );
  dialog.append(form);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  update();
  dialog.showModal();
  return dialog;
}
