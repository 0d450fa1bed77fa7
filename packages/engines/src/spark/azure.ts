import { InvalidInputError, redactUrl } from "@cluster-pack/errors";
import { urlScheme } from "../uri";

/**
 * How Spark's Hadoop connectors authenticate to Azure storage (hadoop-azure: abfs.md for
 * `abfss://`, index.md for `wasbs://`). One of the four, or none to rely on the
 * cluster's own core-site.xml (HDInsight, Synapse and Databricks clusters carry one).
 */
export interface AzureSettings {
  /** Shared key of the account(s) the URLs name. */
  accountKey?: string;
  /** A SAS token (`sv=...&sig=...`): ABFS's FixedSASTokenProvider, WASB's per-container key. */
  sasToken?: string;
  /** A service principal (ABFS ClientCredsTokenProvider). */
  oauth?: { tenantId: string; clientId: string; clientSecret: string };
  /** The VM's or pod's managed identity (ABFS MsiTokenProvider); `clientId` picks a user-assigned one. */
  managedIdentity?: { clientId?: string; tenantId?: string };
  /**
   * Write keys, SAS tokens and client secrets into the conf. Off by default: the conf ends
   * up in logs, the Spark UI and event logs; without it the cluster's configuration must
   * hold them (core-site.xml, a JCEKS credential provider).
   */
  includeSecrets?: boolean;
}

/** One Azure storage location a Spark job reads: what the keys are named after. */
export interface AzureLocation {
  scheme: "abfss" | "abfs" | "wasbs" | "wasb";
  container: string;
  account: string;
  /** `<account>.dfs.core.windows.net` or `<account>.blob.core.windows.net`: the suffix of every per-account key. */
  host: string;
}

const ABFS_CLIENT_CREDS = "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider";
const ABFS_MSI = "org.apache.hadoop.fs.azurebfs.oauth2.MsiTokenProvider";
const ABFS_FIXED_SAS = "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider";

/** The Azure location of a URL, or undefined when it is not abfs(s):// or wasb(s)://. */
export function azureLocation(url: string): AzureLocation | undefined {
  const scheme = urlScheme(url);
  if (scheme !== "abfss" && scheme !== "abfs" && scheme !== "wasbs" && scheme !== "wasb") return undefined;
  const m = /^[a-z]+:\/\/([^@/]+)@(([a-z0-9]+)\.(dfs|blob)\.[a-z0-9.-]+)(\/|$)/i.exec(url);
  if (!m) {
    throw new InvalidInputError(`"${redactUrl(url)}" is not a ${scheme}:// URL Hadoop can read.`, { hint: `use ${scheme}://<container>@<account>.${scheme.startsWith("abfs") ? "dfs" : "blob"}.core.windows.net/path.` });
  }
  return { scheme, container: m[1]!, account: m[3]!.toLowerCase(), host: m[2]!.toLowerCase() };
}

/**
 * The `spark.hadoop.fs.azure.*` keys that let executors (and YARN's localisation) read
 * these locations with these settings. Secrets are written only with `includeSecrets`;
 * otherwise a warning says what the cluster must provide, without printing the secret.
 */
export function azureConf(locations: readonly AzureLocation[], azure: AzureSettings, warnings: string[] = []): Array<[string, string]> {
  const ways = [azure.accountKey, azure.sasToken, azure.oauth, azure.managedIdentity].filter((w) => w !== undefined).length;
  if (ways > 1) throw new InvalidInputError("Azure settings give more than one way to authenticate.", { hint: "pass one of accountKey, sasToken, oauth or managedIdentity." });
  if (azure.oauth && (!azure.oauth.tenantId || !azure.oauth.clientId || !azure.oauth.clientSecret)) {
    throw new InvalidInputError("Azure OAuth needs tenantId, clientId and clientSecret (a service principal).", { hint: "for a managed identity, pass managedIdentity instead." });
  }
  const out: Array<[string, string]> = [];
  const add = (k: string, v: string) => {
    const key = `spark.hadoop.${k}`;
    if (!out.some(([ek, ev]) => ek === key && ev === v)) out.push([key, v]);
  };
  let withheld = false;
  const secret = (k: string, v: string) => {
    if (azure.includeSecrets) add(k, v);
    else withheld = true;
  };
  const seen = new Set<string>();
  for (const loc of locations) {
    const id = `${loc.host}|${loc.container}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const h = loc.host;
    if (loc.scheme.startsWith("abfs")) {
      if (azure.accountKey !== undefined) {
        if (azure.includeSecrets) add(`fs.azure.account.auth.type.${h}`, "SharedKey");
        secret(`fs.azure.account.key.${h}`, azure.accountKey);
      } else if (azure.sasToken !== undefined) {
        if (azure.includeSecrets) {
          add(`fs.azure.account.auth.type.${h}`, "SAS");
          add(`fs.azure.sas.token.provider.type.${h}`, ABFS_FIXED_SAS);
        }
        secret(`fs.azure.sas.fixed.token.${h}`, azure.sasToken.replace(/^\?/, ""));
      } else if (azure.oauth) {
        if (azure.includeSecrets) {
          add(`fs.azure.account.auth.type.${h}`, "OAuth");
          add(`fs.azure.account.oauth.provider.type.${h}`, ABFS_CLIENT_CREDS);
          add(`fs.azure.account.oauth2.client.endpoint.${h}`, `https://login.microsoftonline.com/${encodeURIComponent(azure.oauth.tenantId)}/oauth2/token`);
          add(`fs.azure.account.oauth2.client.id.${h}`, azure.oauth.clientId);
        }
        secret(`fs.azure.account.oauth2.client.secret.${h}`, azure.oauth.clientSecret);
      } else if (azure.managedIdentity) {
        add(`fs.azure.account.auth.type.${h}`, "OAuth");
        add(`fs.azure.account.oauth.provider.type.${h}`, ABFS_MSI);
        if (azure.managedIdentity.tenantId) add(`fs.azure.account.oauth2.msi.tenant.${h}`, azure.managedIdentity.tenantId);
        if (azure.managedIdentity.clientId) add(`fs.azure.account.oauth2.client.id.${h}`, azure.managedIdentity.clientId);
      }
    } else {
      // WASB knows shared keys and per-container SAS keys only.
      if (azure.oauth || azure.managedIdentity) {
        throw new InvalidInputError(`wasb:// (${loc.container}@${h}) has no OAuth or managed identity login.`, { hint: `use abfss://${loc.container}@${loc.account}.dfs.${h.split(".").slice(2).join(".")}/..., or an account key or SAS token.` });
      }
      if (azure.accountKey !== undefined) secret(`fs.azure.account.key.${h}`, azure.accountKey);
      else if (azure.sasToken !== undefined) secret(`fs.azure.sas.${loc.container}.${h}`, azure.sasToken.replace(/^\?/, ""));
    }
  }
  if (withheld) {
    warnings.push(
      "Azure credentials were not written into the Spark conf (it is shown in logs and the Spark UI); the cluster's core-site.xml (or a credential provider) must hold them. Ask for includeSecrets to write them.",
    );
  }
  return out;
}
