import type { PageContext } from './layout.js';

/** The upload form both the portal's profile photo page and the sites' "Upload picture" use. */
export function UploadForm(props: { context: PageContext; action: string; submit: string }) {
  const { t } = props.context;
  return (
    <form method="post" action={props.action} enctype="multipart/form-data" class="upload" data-max-bytes={4194304}>
      <input type="hidden" name="_csrf" value={props.context.csrfToken} />
      <div class="drop-zone" data-drop-zone="">
        <input
          id="photo"
          name="photo"
          type="file"
          class="visually-hidden"
          accept="image/jpeg,image/png,image/gif,image/webp"
          aria-describedby="photo-rules"
          required
        />
        <label for="photo" class="button secondary">
          {t('photo.choose')}
        </label>
        <span class="muted">{t('photo.drop')}</span>
        <p class="hint" id="photo-rules">
          {t('photo.rules')}
        </p>
      </div>
      <figure class="preview" hidden data-preview="">
        <img alt={t('photo.previewAlt')} width={160} height={160} />
        <figcaption>{t('photo.previewTitle')}</figcaption>
      </figure>
      <p
        class="notice notice-error"
        role="alert"
        hidden
        data-too-large={t('photo.error.too_large')}
        data-not-picture={t('photo.error.notPicture')}
        data-corrupt={t('photo.error.corrupt')}
        data-unusable={t('photo.error.unsupported_type')}
        data-svg={t('photo.error.svg')}
      />
      <div class="actions">
        <button type="submit">{props.submit}</button>
      </div>
    </form>
  );
}
