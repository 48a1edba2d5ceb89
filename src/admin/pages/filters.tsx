import type { PageContext } from '../../web/layout.js';
import { stateLabel, type ShownState } from './words.js';

// The filter form of the console's people lists (Users and the Microsoft 365 tenant): a search
// over any part of a name or account, a state, and where the list has one, a sort order. A GET
// form, so a filtered list is a link like any other.

/** The longest search the lists take; the field stops there, and the routes refuse more. */
export const SEARCH_MAX_LENGTH = 200;

export interface FilterFormProps {
  context: PageContext;
  /** Where the form goes (`/admin/users`, `/admin/tenant`). */
  action: string;
  states: readonly ShownState[];
  search: string | undefined;
  state: ShownState | undefined;
  /** The search field takes the room the others leave. */
  growSearch?: boolean;
  /** The sort order's choices with their words, and the one chosen; omitted where the list has one order. */
  sort?: { options: ReadonlyArray<{ value: string; label: string }>; selected: string } | undefined;
}

export function FilterForm(props: FilterFormProps) {
  const { t } = props.context;
  return (
    <form method="get" action={props.action} class="filters">
      <div class={props.growSearch ? 'grow' : undefined}>
        <label for="search">{t('admin.users.search')}</label>
        <input
          id="search"
          name="search"
          type="search"
          maxLength={SEARCH_MAX_LENGTH}
          value={props.search ?? ''}
          aria-describedby="search-hint"
        />
        <p class="hint" id="search-hint">
          {t('admin.users.searchHint')}
        </p>
      </div>
      <div>
        <label for="state">{t('admin.users.state')}</label>
        <select id="state" name="state">
          <option value="">{t('admin.users.anyState')}</option>
          {props.states.map((s) => (
            <option value={s} selected={props.state === s}>
              {stateLabel(t, s)}
            </option>
          ))}
        </select>
      </div>
      {props.sort && (
        <div>
          <label for="sort">{t('admin.users.sort')}</label>
          <select id="sort" name="sort">
            {props.sort.options.map((o) => (
              <option value={o.value} selected={props.sort!.selected === o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
      )}
      <button type="submit">{t('admin.users.filter')}</button>
    </form>
  );
}
