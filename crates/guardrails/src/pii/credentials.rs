//! Credentials in vendors' published formats, and credentials carried by a format (a
//! URL's user information, an `Authorization` header, a kubeconfig or Docker config).
//! Each vendor format is anchored on its prefix; the whole token is reported.

use super::{
    Entity, Pattern, auth_header_value, base62, base64_chars, db_url, encoded_private_key,
    encoded_user_password, key_chars, none, not_placeholder,
};
use crate::validate;

pub(super) const CREDENTIALS: &[Pattern] = &[
    token!("GITLAB_TOKEN", "gitlab_pat", ["glpat-"], r"glpat-[0-9A-Za-z_-]{20,64}"),
    token!(
        "GITLAB_TOKEN",
        "gitlab_other_token",
        ["glptt-", "gldt-", "glrt-", "glcbt-", "glimt-", "glsoat-", "glffct-", "glagent-"],
        r"gl(?:ptt|dt|rt|cbt|imt|soat|ffct|agent)-[0-9A-Za-z_-]{20,64}"
    ),
    token!("NPM_TOKEN", "npm_token", ["npm_"], r"npm_[A-Za-z0-9]{36}"),
    token!("PYPI_TOKEN", "pypi_token", ["pypi-ageichlwas5vcmc"], r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    token!("HUGGINGFACE_TOKEN", "huggingface_token", ["hf_"], r"hf_[A-Za-z0-9]{34,40}"),
    token!("SENDGRID_API_KEY", "sendgrid_api_key", ["sg."], r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    token!("TWILIO_API_KEY", "twilio_api_key", [], r"SK[0-9a-f]{32}"),
    token!("MAILGUN_API_KEY", "mailgun_api_key", ["key-"], r"key-[0-9a-f]{32}"),
    token!("MAILCHIMP_API_KEY", "mailchimp_api_key", [], r"[0-9a-f]{32}-us[0-9]{1,2}"),
    token!(
        "DIGITALOCEAN_TOKEN",
        "digitalocean_token",
        ["dop_v1_", "doo_v1_", "dor_v1_"],
        r"do[opr]_v1_[a-f0-9]{64}"
    ),
    token!(
        "SHOPIFY_TOKEN",
        "shopify_token",
        ["shpat_", "shpca_", "shppa_", "shpss_"],
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
    ),
    token!(
        "SQUARE_TOKEN",
        "square_token",
        ["sq0atp-", "sq0csp-"],
        r"sq0atp-[0-9A-Za-z_-]{22}|sq0csp-[0-9A-Za-z_-]{43}"
    ),
    token!("TELEGRAM_BOT_TOKEN", "telegram_bot_token", [], r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
    token!("VAULT_TOKEN", "hashicorp_vault_token", ["hvs.", "hvb.", "hvr."], r"hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    token!(
        "TERRAFORM_CLOUD_TOKEN",
        "terraform_cloud_token",
        [".atlasv1."],
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,70}"
    ),
    token!(
        "DOPPLER_TOKEN",
        "doppler_token",
        ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
        r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"
    ),
    token!("POSTMAN_API_KEY", "postman_api_key", ["pmak-"], r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    token!("LINEAR_API_KEY", "linear_api_key", ["lin_api_"], r"lin_api_[A-Za-z0-9]{40}"),
    token!(
        "NOTION_TOKEN",
        "notion_token",
        ["ntn_", "secret_"],
        r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}"
    ),
    token!("DATABRICKS_TOKEN", "databricks_token", ["dapi"], r"dapi[a-f0-9]{32}(?:-[0-9]+)?"),
    token!("ATLASSIAN_API_TOKEN", "atlassian_api_token", ["atatt3"], r"ATATT3[A-Za-z0-9_=-]{150,220}"),
    token!("HEROKU_API_KEY", "heroku_api_key", ["hrku-"], r"HRKU-[A-Za-z0-9_-]{60}"),
    token!(
        "GRAFANA_TOKEN",
        "grafana_token",
        ["glc_", "glsa_"],
        r"glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}"
    ),
    token!("NEW_RELIC_KEY", "new_relic_user_key", ["nrak-"], r"NRAK-[A-Z0-9]{27}"),
    token!("SENTRY_TOKEN", "sentry_token", ["sntrys_", "sntryu_"], r"sntry[su]_[A-Za-z0-9+/=_]{50,}"),
    token!(
        "AGE_SECRET_KEY",
        "age_secret_key",
        ["age-secret-key-1"],
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"
    ),
    token!(
        "GOOGLE_OAUTH_CLIENT_SECRET",
        "google_oauth_client_secret",
        ["gocspx-"],
        r"GOCSPX-[A-Za-z0-9_-]{28}"
    ),
    token!("STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret", ["whsec_"], r"whsec_[A-Za-z0-9+/=]{32,}"),
    token!(
        "CLOUDFLARE_ORIGIN_CA_KEY",
        "cloudflare_origin_ca_key",
        ["v1.0-"],
        r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"
    ),
    token!("GROQ_API_KEY", "groq_api_key", ["gsk_"], r"gsk_[A-Za-z0-9]{52}"),
    token!("PERPLEXITY_API_KEY", "perplexity_api_key", ["pplx-"], r"pplx-[A-Za-z0-9]{48}"),
    token!("XAI_API_KEY", "xai_api_key", ["xai-"], r"xai-[A-Za-z0-9]{80}"),
    token!("REPLICATE_API_TOKEN", "replicate_api_token", ["r8_"], r"r8_[A-Za-z0-9]{37}"),
    token!("OPENROUTER_API_KEY", "openrouter_api_key", ["sk-or-v1-"], r"sk-or-v1-[a-f0-9]{64}"),
    token!(
        "LANGSMITH_API_KEY",
        "langsmith_api_key",
        ["lsv2_pt_", "lsv2_sk_"],
        r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"
    ),
    token!("PINECONE_API_KEY", "pinecone_api_key", ["pcsk_"], r"pcsk_[A-Za-z0-9]{5,6}_[A-Za-z0-9]{60,70}"),
    token!("SUPABASE_TOKEN", "supabase_token", ["sbp_"], r"sbp_[a-f0-9]{40}"),
    token!("NETLIFY_TOKEN", "netlify_token", ["nfp_"], r"nfp_[A-Za-z0-9]{36}"),
    token!("FLY_IO_TOKEN", "fly_io_token", ["fo1_"], r"fo1_[A-Za-z0-9_-]{43}"),
    token!(
        "PLANETSCALE_TOKEN",
        "planetscale_token",
        ["pscale_tkn_", "pscale_pw_", "pscale_oauth_"],
        r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}"
    ),
    token!("JFROG_API_KEY", "jfrog_api_key", ["akcp"], r"AKCp[A-Za-z0-9]{69}"),
    token!("DOCKER_HUB_TOKEN", "docker_hub_pat", ["dckr_pat_"], r"dckr_pat_[A-Za-z0-9_-]{27}"),
    token!("BUILDKITE_TOKEN", "buildkite_token", ["bkua_"], r"bkua_[a-f0-9]{40}"),
    token!("CIRCLECI_TOKEN", "circleci_pat", ["ccipat_"], r"CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
    // Webhook URLs: whoever has the URL can post.
    token!(
        "DISCORD_WEBHOOK_URL",
        "discord_webhook_url",
        ["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,80}"
    ),
    token!(
        "TEAMS_WEBHOOK_URL",
        "teams_webhook_url",
        [".webhook.office.com/webhookb2/"],
        r"https://[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/[0-9a-f-]{36}@[0-9a-f-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f-]{36}(?:/[A-Za-z0-9_-]{20,})?"
    ),
    token!(
        "ZAPIER_WEBHOOK_URL",
        "zapier_webhook_url",
        ["hooks.zapier.com/hooks/catch/"],
        r"https://hooks\.zapier\.com/hooks/catch/[0-9]{5,10}/[a-z0-9]{5,10}"
    ),
    token!(
        "GOOGLE_CHAT_WEBHOOK_URL",
        "google_chat_webhook_url",
        ["chat.googleapis.com/v1/spaces/"],
        r"https://chat\.googleapis\.com/v1/spaces/[A-Za-z0-9_-]{8,16}/messages\?key=[A-Za-z0-9_-]{39}&token=[A-Za-z0-9_%=-]{40,}"
    ),
    // Cloud providers.
    token!(
        "AZURE_AD_CLIENT_SECRET",
        "azure_ad_client_secret",
        ["q~"],
        r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"
    ),
    Pattern {
        entity: Entity::Token("AZURE_SAS_TOKEN"),
        name: "azure_sas_signature",
        literals: &["sig="],
        // A storage service version, the other parameters, then the signature: the
        // signature is the secret part.
        regex: r"[?&]sv=[0-9]{4}-[0-9]{2}-[0-9]{2}(?:&[A-Za-z0-9_]+=[A-Za-z0-9%+/=:._-]*){0,15}&sig=([A-Za-z0-9%+/]{40,120}=*)",
        group: 1,
        // Not `=`: it separates the name from the value.
        boundary: |b| b.is_ascii_alphanumeric() || b"%+/".contains(&b),
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Token("AZURE_SHARED_ACCESS_KEY"),
        name: "azure_shared_access_key",
        literals: &["sharedaccesskey="],
        regex: r"(?i:SharedAccessKey)=([A-Za-z0-9+/]{42,43}=)",
        group: 1,
        boundary: base64_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    token!("GOOGLE_OAUTH_TOKEN", "google_oauth_access_token", ["ya29."], r"ya29\.[0-9A-Za-z_-]{30,}"),
    token!("GOOGLE_OAUTH_TOKEN", "google_oauth_refresh_token", ["1//0"], r"1//0[0-9A-Za-z_-]{40,}"),
    token!(
        "FIREBASE_CLOUD_MESSAGING_KEY",
        "firebase_fcm_server_key",
        [":apa91b"],
        r"AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{134}"
    ),
    Pattern {
        entity: Entity::Token("AWS_SESSION_TOKEN"),
        name: "aws_session_token",
        // Base64 of the token's fixed leading bytes.
        literals: &["FwoGZXIvYXdz", "IQoJb3JpZ2luX2Vj"],
        regex: r"(?:FwoGZXIvYXdz|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{100,}",
        group: 0,
        boundary: base64_chars,
        validate: not_placeholder,
        confidence: 0.95,
        decimal_guard: false,
    },
    token!(
        "AMAZON_MWS_TOKEN",
        "amazon_mws_token",
        ["amzn.mws."],
        r"amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    ),
    token!("ALIBABA_ACCESS_KEY_ID", "alibaba_access_key_id", ["ltai"], r"LTAI[A-Za-z0-9]{12,20}"),
    token!("TENCENT_SECRET_ID", "tencent_secret_id", ["akid"], r"AKID[A-Za-z0-9]{32}"),
    // Payments and commerce.
    token!("FACEBOOK_ACCESS_TOKEN", "facebook_access_token", ["eaa"], r"EAA[BCDGIJ][A-Za-z0-9]{90,}"),
    token!("SQUARE_TOKEN", "square_access_token", ["eaaa"], r"EAAA[A-Za-z0-9_-]{60}"),
    token!(
        "BRAINTREE_ACCESS_TOKEN",
        "braintree_access_token",
        ["access_token$"],
        r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}"
    ),
    token!("DUFFEL_TOKEN", "duffel_token", ["duffel_"], r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}"),
    token!("EASYPOST_API_KEY", "easypost_api_key", ["ezak", "eztk"], r"EZ[AT]K[A-Za-z0-9]{54}"),
    token!(
        "FLUTTERWAVE_SECRET_KEY",
        "flutterwave_secret_key",
        ["flwseck"],
        r"FLWSECK(?:_TEST)?-[a-h0-9]{32}-X"
    ),
    token!("SHIPPO_TOKEN", "shippo_token", ["shippo_"], r"shippo_(?:live|test)_[a-f0-9]{40}"),
    token!(
        "SALESFORCE_ACCESS_TOKEN",
        "salesforce_access_token",
        ["00d"],
        r"00D[0-9A-Za-z]{12,15}![0-9A-Za-z._]{80,}"
    ),
    token!(
        "HUBSPOT_TOKEN",
        "hubspot_private_app_token",
        ["pat-na", "pat-eu"],
        r"pat-(?:na|eu)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    ),
    // Collaboration, content and developer platforms.
    token!("DROPBOX_TOKEN", "dropbox_short_lived_token", ["sl."], r"sl\.(?:[A-Za-z]\.)?[A-Za-z0-9_-]{130,}"),
    token!("FIGMA_TOKEN", "figma_pat", ["figd_"], r"figd_[A-Za-z0-9_-]{40,}"),
    token!("AIRTABLE_TOKEN", "airtable_pat", ["pat"], r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    token!("TYPEFORM_TOKEN", "typeform_pat", ["tfp_"], r"tfp_[A-Za-z0-9_.=-]{59}"),
    token!("CONTENTFUL_TOKEN", "contentful_pat", ["cfpat-"], r"CFPAT-[A-Za-z0-9_-]{43}"),
    token!("README_API_KEY", "readme_api_key", ["rdme_"], r"rdme_[a-z0-9]{70}"),
    token!("BREVO_API_KEY", "brevo_api_key", ["xkeysib-"], r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    token!("RESEND_API_KEY", "resend_api_key", ["re_"], r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
    token!("ADOBE_CLIENT_SECRET", "adobe_client_secret", ["p8e-"], r"p8e-[A-Za-z0-9_-]{32}"),
    token!("FRAMEIO_TOKEN", "frameio_token", ["fio-u-"], r"fio-u-[A-Za-z0-9_=-]{64}"),
    token!(
        "MAPBOX_SECRET_TOKEN",
        "mapbox_secret_token",
        ["sk.eyj"],
        r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"
    ),
    token!("TWITCH_OAUTH_TOKEN", "twitch_oauth_token", ["oauth:"], r"oauth:[a-z0-9]{30}"),
    token!("TAVILY_API_KEY", "tavily_api_key", ["tvly-"], r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}"),
    // Package registries, CI/CD and infrastructure.
    token!("CLOJARS_TOKEN", "clojars_token", ["clojars_"], r"CLOJARS_[a-z0-9]{60}"),
    token!("RUBYGEMS_API_KEY", "rubygems_api_key", ["rubygems_"], r"rubygems_[a-f0-9]{48}"),
    token!("NUGET_API_KEY", "nuget_api_key", ["oy2"], r"oy2[a-z0-9]{43}"),
    token!("PULUMI_TOKEN", "pulumi_token", ["pul-"], r"pul-[a-f0-9]{40}"),
    token!("PREFECT_API_KEY", "prefect_api_key", ["pnu_"], r"pnu_[A-Za-z0-9]{36}"),
    token!("DYNATRACE_TOKEN", "dynatrace_token", ["dt0c01."], r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    token!(
        "NEW_RELIC_KEY",
        "new_relic_other_key",
        ["nrii-", "nrjs-", "nraa-"],
        r"NRII-[A-Za-z0-9_-]{32}|NRJS-[a-f0-9]{19}|NRAA-[a-f0-9]{27}"
    ),
    token!("BITBUCKET_APP_PASSWORD", "bitbucket_app_password", ["atbb"], r"ATBB[A-Za-z0-9_=.-]{28,60}"),
    token!("SONARQUBE_TOKEN", "sonarqube_token", ["sqp_", "squ_", "sqa_"], r"sq[pua]_[a-f0-9]{40}"),
    token!("OCTOPUS_DEPLOY_API_KEY", "octopus_deploy_api_key", ["api-"], r"API-[A-Z0-9]{26}"),
    token!("INFRACOST_API_KEY", "infracost_api_key", ["ico-"], r"ico-[A-Za-z0-9]{32}"),
    token!(
        "HARNESS_TOKEN",
        "harness_pat",
        ["pat.", "sat."],
        r"(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20}"
    ),
    // Password managers.
    token!(
        "ONEPASSWORD_SECRET_KEY",
        "onepassword_secret_key",
        ["a3-"],
        r"A3-[A-Z0-9]{6}-[A-Z0-9]{6}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"
    ),
    token!(
        "ONEPASSWORD_SERVICE_TOKEN",
        "onepassword_service_account_token",
        ["ops_eyj"],
        r"ops_eyJ[A-Za-z0-9+/=_-]{100,}"
    ),
    // Credentials carried by a format rather than a vendor.
    Pattern {
        entity: Entity::Token("URL_CREDENTIALS"),
        name: "url_with_credentials",
        // The `@` before the host, not the scheme's `://`: most URLs carry no user
        // information, and a text without `@` is not searched at all.
        literals: &["@"],
        // Up to the host: the password is in the authority, the path is not secret.
        regex: r"(?i:https?|ftps?|sftp|smtps?|imaps?|pop3s?|ldaps?|ssh|git|svn|nats|kafka|mqtts?|wss?)://[^\s:/@]+:[^\s@/]+@[^\s/?#]+",
        group: 0,
        boundary: none,
        validate: db_url,
        confidence: 0.9,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Token("HTTP_AUTH_CREDENTIAL"),
        name: "authorization_header",
        literals: &["authorization"],
        regex: r#"(?i:authorization)["']?\s*[:=]\s*["']?(?i:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{8,})"#,
        group: 1,
        boundary: |b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b),
        validate: auth_header_value,
        confidence: 0.9,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::PrivateKey,
        name: "kubeconfig_client_key_data",
        literals: &["client-key-data"],
        // Base64 of a PEM block: "LS0tLS1CRUdJTi" is "-----BEGIN".
        regex: r#"client-key-data:\s*["']?(LS0tLS1CRUdJTi[A-Za-z0-9+/=]{40,})"#,
        group: 1,
        boundary: base64_chars,
        validate: encoded_private_key,
        confidence: 0.97,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Token("REGISTRY_AUTH"),
        name: "docker_config_auth",
        literals: &["\"auth\""],
        regex: r#""auth"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})""#,
        group: 1,
        boundary: base64_chars,
        validate: encoded_user_password,
        confidence: 0.9,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::PrivateKey,
        name: "putty_private_key",
        literals: &["putty-user-key-file-"],
        // The header; the block is extended to its MAC line, or over the key file's
        // lines when the MAC is missing (see `putty_block_end`).
        regex: r"PuTTY-User-Key-File-[23]: [A-Za-z0-9-]+",
        group: 0,
        boundary: none,
        validate: |_| true,
        confidence: 0.99,
        decimal_guard: false,
    },
    Pattern {
        entity: Entity::Token("BITCOIN_PRIVATE_KEY"),
        name: "bitcoin_wif_private_key",
        literals: &[],
        regex: r"[5KL][1-9A-HJ-NP-Za-km-z]{50,51}",
        group: 0,
        boundary: base62,
        validate: validate::bitcoin_wif,
        confidence: 0.97,
        decimal_guard: false,
    },
];
