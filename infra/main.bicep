// Everything the webhook handler needs, in one resource group: the Log Analytics workspace and
// its custom tables, the data collection rule (and endpoint, for private link), the Function App
// on Flex Consumption with its storage, identity and roles, Key Vault for the source secrets,
// Application Insights, the alert rules with an email action group (and, optionally, a secure
// webhook action group that sends them to the app's own AzureMonitorAlerts table), and the workbook.
//
// Deploy with `azd up`, or `az deployment group create -g <rg> -f infra/main.bicep
// -p infra/main.parameters.json`, then publish the handler with `func azure functionapp publish`.
// The tables and DCR streams come from infra/tables.json, which `handler schema` generates.

targetScope = 'resourceGroup'

@minLength(2)
@maxLength(20)
@description('Short name that prefixes every resource (azd passes the environment name).')
param name string

@description('Region of every resource; the DCR must be in the workspace region.')
param location string = resourceGroup().location

@description('Name of an existing Log Analytics workspace in this resource group to use; empty creates one.')
param existingWorkspaceName string = ''

@description('Days of retention for a new workspace and the custom tables.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

@description('Email address that receives the alerts (failed Skytap sign-ins, silent sources).')
param alertEmail string

@secure()
@description('AuditWolf webhook secrets, comma-separated (several while rotating).')
param auditwolfSecrets string

@secure()
@description('StackState webhook tokens, comma-separated.')
param stackstateTokens string

@secure()
@description('Optional: tokens Azure Monitor must send as ?tokenid=, comma-separated.')
param azureMonitorTokens string = ''

@secure()
@description('Optional: tokens Skytap must send as ?token=, comma-separated.')
param skytapTokens string = ''

@description('Optional, for secure webhooks: the object id of the app registration Azure Monitor gets tokens for (README: Secure webhooks). With alertsAppClientId, the alerts also go to this app\'s own AzureMonitorAlerts table, with no secret in the URL.')
param alertsAppObjectId string = ''

@description('Optional, with alertsAppObjectId: the app registration\'s client (application) id.')
param alertsAppClientId string = ''

@description('Optional: the app registration\'s Application ID URI; empty means api://<client id>.')
param alertsAppIdUri string = ''

@description('Flex Consumption instance memory (MB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 512

@description('Most instances the app scales out to (Flex Consumption allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Webhooks one instance serves at once before Flex Consumption adds another. A webhook mostly waits on its Log Analytics round trip (50-500 ms) and uses about 0.1 ms of CPU and 50 KB of memory: see the README, "Flex concurrency".')
@minValue(1)
@maxValue(1000)
param perInstanceConcurrency int = 200

@description('Instances kept ready for HTTP at all times (billed while idle); 0 pays only for use, with a cold start after idling.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

// azd environment names may hold `_ . ( )`, which no storage account, vault or site name
// accepts: resource names use this lower-case, hyphenated form.
var prefix = toLower(replace(replace(replace(replace(name, '_', '-'), '.', '-'), '(', ''), ')', ''))
var suffix = uniqueString(resourceGroup().id, name)
var schema = loadJsonContent('tables.json')
var workspaceName = empty(existingWorkspaceName) ? 'log-${prefix}-${suffix}' : existingWorkspaceName
var storageName = take('st${replace(prefix, '-', '')}${suffix}', 24)
var spillQueue = 'webhook-spill'
var deploymentContainer = 'app-package'

// Built-in role definitions.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// ---------------------------------------------------------------- Log Analytics and ingestion

resource newWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (empty(existingWorkspaceName)) {
  name: workspaceName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource tables 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = [for table in items(schema.tables): {
  parent: workspace
  name: table.key
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: table.key
      columns: table.value
    }
  }
  dependsOn: [
    newWorkspace
  ]
}]

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: 'dcr-${prefix}-${suffix}'
  location: location
  kind: 'Direct'
  properties: {
    streamDeclarations: schema.streamDeclarations
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: schema.dataFlows
  }
  dependsOn: [
    tables
  ]
}

// ---------------------------------------------------------------- Storage, Key Vault, monitoring

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Flex Consumption reaches its host storage over the public endpoint unless the app is VNet-integrated; access is by Entra ID only (shared keys are off).
  //checkov:skip=CKV_AZURE_206:Host storage and the spill queue are transient; locally redundant storage is enough and available in every region.
  //checkov:skip=CKV_AZURE_43:The name is computed (take/uniqueString), which checkov cannot evaluate; it is lower-case alphanumeric and at most 24 characters.
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource spill 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: spillQueue
}

resource spillPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${spillQueue}-poison'
}

// Where `drain` moves a message whose every try failed: it never expires (the host's poison
// queue would drop it after 7 days). `handler replay-held` moves it back once the cause is fixed.
resource spillHeld 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${spillQueue}-held'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_110:Purge protection with the vault's fixed per-environment name would block azd up for 90 days after azd down; soft delete stays on.
  //checkov:skip=CKV_AZURE_42:Recoverable means purge protection here (see CKV_AZURE_110); soft-deleted secrets stay recoverable for 7 days.
  //checkov:skip=CKV_AZURE_109:The Functions platform resolves Key Vault references over the public endpoint unless the app is VNet-integrated; access is by RBAC only.
  //checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109.
  // 3 to 24 letters and digits: a hyphen could land at the end after take().
  name: 'kv${take(replace(prefix, '-', ''), 9)}${suffix}'
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    // The vault's name is fixed per environment, so purge protection would block the next
    // `azd up` for 90 days after an `azd down`; `azd down --purge` frees the name at once.
    softDeleteRetentionInDays: 7
  }
}

// Secrets in the vault, referenced from app settings. The values come from the senders' portals
// and rotate there, so they carry no expiry of their own.
var secretValues = {
  'auditwolf-secrets': auditwolfSecrets
  'stackstate-tokens': stackstateTokens
  'azure-monitor-tokens': azureMonitorTokens
  'skytap-tokens': skytapTokens
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in items(secretValues): if (!empty(secret.value)) {
  //checkov:skip=CKV_AZURE_41:Webhook secrets are set and rotated in the senders' portals (AuditWolf, StackState), not on a schedule the vault could enforce.
  parent: vault
  name: secret.key
  properties: {
    value: secret.value
    contentType: 'text/plain'
  }
}]

var secretUris = {
  AUDITWOLF_SECRETS: '${vault.properties.vaultUri}secrets/auditwolf-secrets'
  STACKSTATE_TOKENS: '${vault.properties.vaultUri}secrets/stackstate-tokens'
  AZURE_MONITOR_TOKENS: '${vault.properties.vaultUri}secrets/azure-monitor-tokens'
  SKYTAP_TOKENS: '${vault.properties.vaultUri}secrets/skytap-tokens'
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${prefix}-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: false
  }
  dependsOn: [
    newWorkspace
  ]
}

// ---------------------------------------------------------------- The Function App

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption is a per-region option, not available everywhere.
  name: 'plan-${prefix}-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Optional secrets become settings only when given: an unset token setting means "not required".
var azureMonitorTokenSetting = empty(azureMonitorTokens) ? [] : [
  {
    name: 'AZURE_MONITOR_TOKENS'
    value: '@Microsoft.KeyVault(SecretUri=${secretUris.AZURE_MONITOR_TOKENS})'
  }
]
// Secure webhooks, when the app registration's ids are given: the handler accepts the action
// group's Entra ID tokens for it (v1 tokens carry the Application ID URI, v2 the client id).
var secureWebhook = !empty(alertsAppObjectId) && !empty(alertsAppClientId)
var alertsAudience = empty(alertsAppIdUri) ? 'api://${alertsAppClientId}' : alertsAppIdUri
var secureWebhookSettings = !secureWebhook ? [] : [
  {
    name: 'AZURE_MONITOR_TENANT_ID'
    value: tenant().tenantId
  }
  {
    name: 'AZURE_MONITOR_AUDIENCE'
    value: '${alertsAudience},${alertsAppClientId}'
  }
]
var skytapTokenSetting = empty(skytapTokens) ? [] : [
  {
    name: 'SKYTAP_TOKENS'
    value: '@Microsoft.KeyVault(SecretUri=${secretUris.SKYTAP_TOKENS})'
  }
]

// The app's identity, created (with its roles, below) before the app: Key Vault references are
// resolved, and the package container read, as the app starts, so the roles must exist by then.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${prefix}-${suffix}'
  location: location
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP endpoint and lists ftpsState as unsupported.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales per request and has no fixed instance count to fail over between.
  //checkov:skip=CKV_AZURE_222:The webhook senders are on the internet; the endpoint must be public.
  //checkov:skip=CKV_AZURE_17:Senders cannot present client certificates (Azure action groups do not support them).
  name: 'func-${prefix}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      healthCheckPath: '/api/health'
      appSettings: concat([
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          // The handler's own tokens (Logs Ingestion) come from the same identity.
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'LOGS_INGESTION_ENDPOINT'
          value: dataCollectionRule.properties.endpoints.logsIngestion
        }
        {
          name: 'LOGS_INGESTION_DCR_ID'
          value: dataCollectionRule.properties.immutableId
        }
        {
          name: 'AUDITWOLF_SECRETS'
          value: '@Microsoft.KeyVault(SecretUri=${secretUris.AUDITWOLF_SECRETS})'
        }
        {
          name: 'STACKSTATE_TOKENS'
          value: '@Microsoft.KeyVault(SecretUri=${secretUris.STACKSTATE_TOKENS})'
        }
        {
          name: 'SPILL_QUEUE'
          value: spillQueue
        }
      ], azureMonitorTokenSetting, secureWebhookSettings, skytapTokenSetting)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: perInstanceConcurrency
          }
        }
        alwaysReady: alwaysReadyInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  dependsOn: [
    packageContainer
    secrets
    storageAccess
    publishAccess
    vaultAccess
  ]
}

// The identity's roles: host storage (blobs, queues, timers' tables), the spill queue, the DCR, the vault.
var storageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(storage.id, identity.id, role)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource publishAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataCollectionRule.id, identity.id, roles.monitoringMetricsPublisher)
  scope: dataCollectionRule
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// ---------------------------------------------------------------- Alerts and the workbook

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${prefix}-${suffix}'
  location: 'global'
  properties: {
    groupShortName: take('webhooks${replace(prefix, '-', '')}', 12)
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Optional: the deployment's own alerts also go to its `azuremonitor-secure` function as a secure
// webhook (an Entra ID token, no secret in the URL), so they land in the AzureMonitorAlerts table.
resource alertsToTable 'Microsoft.Insights/actionGroups@2023-01-01' = if (secureWebhook) {
  name: 'ag-${prefix}-${suffix}-table'
  location: 'global'
  properties: {
    groupShortName: take('table${replace(prefix, '-', '')}', 12)
    enabled: true
    webhookReceivers: [
      {
        name: 'azuremonitor-secure'
        serviceUri: 'https://${app.properties.defaultHostName}/api/azuremonitor-secure'
        useCommonAlertSchema: true
        useAadAuth: true
        objectId: alertsAppObjectId
        identifierUri: alertsAudience
        tenantId: tenant().tenantId
      }
    ]
  }
}

// Each alert runs a query file from queries/, the same file the tests check.
var alertRules = [
  {
    name: 'skytap-failed-sign-in'
    displayName: 'Skytap: failed sign-in'
    description: 'Fires once for every failed Skytap sign-in, when its row arrives.'
    severity: 2
    // Rows are picked by when they arrived (ingestion_time() in the query); the window only
    // bounds the event times a late row may carry.
    query: loadTextContent('../queries/alert-skytap-failed-sign-in.kql')
    frequency: 'PT5M'
    window: 'P2D'
    // Stateless, one alert per sign-in: each EventId is its own dimension.
    autoMitigate: false
    dimensions: [
      {
        name: 'EventId'
        operator: 'Include'
        values: [
          '*'
        ]
      }
    ]
  }
  {
    name: 'webhook-source-silent'
    displayName: 'Webhooks: a source went silent'
    description: 'A source that sent rows in the last 2 days sent none in the last 6 hours (Skytap disables a failing webhook after six hours).'
    severity: 1
    query: loadTextContent('../queries/pipeline-silent-sources.kql')
    frequency: 'PT1H'
    // Log search alerts look back at most two days.
    window: 'P2D'
    // Stateful: fires once when a source falls silent and resolves when it is back.
    autoMitigate: true
    dimensions: []
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in alertRules: {
  name: '${rule.name}-${prefix}'
  location: location
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    autoMitigate: rule.autoMitigate
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: rule.dimensions
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: secureWebhook ? [
        actionGroup.id
        alertsToTable.id
      ] : [
        actionGroup.id
      ]
    }
  }
  dependsOn: [
    tables
  ]
}]

// Rows waiting in the app's queues all through an hour: held after every drain try failed, or a
// spill backlog the drain cannot clear. Storage reports queue depth per account, hourly, so this
// watches every queue of the app's own storage account (the spill, its poison and holding queues).
resource rowsWaiting 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'spill-rows-waiting-${prefix}'
  location: 'global'
  properties: {
    description: 'Spilled rows have waited in ${spillQueue}, ${spillQueue}-held or ${spillQueue}-poison for an hour: the drain cannot deliver them. Fix what its ERROR line names (fix=...), then run `handler replay-held`.'
    severity: 1
    enabled: true
    scopes: [
      queueService.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'messages-waiting'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Minimum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
  dependsOn: [
    spill
    spillHeld
  ]
}

// Workspace functions from queries/functions/: the first line of each file is its signature.
var regionFunction = loadTextContent('../queries/functions/SkytapRegionName.kql')

resource skytapRegionName 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = {
  parent: workspace
  name: 'SkytapRegionName'
  properties: {
    category: 'Webhooks'
    displayName: 'Skytap region name'
    functionAlias: 'SkytapRegionName'
    functionParameters: 'region:string'
    query: regionFunction
    version: 2
  }
  dependsOn: [
    newWorkspace
  ]
}

// Workbook tiles: each runs a query file from queries/.
var tiles = [
  {
    title: 'Skytap storage in use per day and region (30 days)'
    query: loadTextContent('../queries/skytap-storage-usage-by-day.kql')
    visualization: 'timechart'
  }
  {
    title: 'Skytap sign-ins and environment operations per day'
    query: loadTextContent('../queries/skytap-environment-operations.kql')
    visualization: 'barchart'
  }
  {
    title: 'Failed Skytap sign-ins'
    query: loadTextContent('../queries/skytap-failed-sign-ins.kql')
    visualization: 'table'
  }
  {
    title: 'AuditWolf events by severity and type'
    query: loadTextContent('../queries/auditwolf-by-severity.kql')
    visualization: 'table'
  }
  {
    title: 'Azure alerts fired and resolved per day'
    query: loadTextContent('../queries/azure-alerts-fired-vs-resolved.kql')
    visualization: 'barchart'
  }
  {
    title: 'StackState notifications open now'
    query: loadTextContent('../queries/stackstate-open-notifications.kql')
    visualization: 'table'
  }
  {
    title: 'StackState time to close, by monitor'
    query: loadTextContent('../queries/stackstate-time-to-close.kql')
    visualization: 'table'
  }
  {
    title: 'Pipeline health: rows, lag and cut values per source and hour'
    query: loadTextContent('../queries/pipeline-health.kql')
    visualization: 'table'
  }
]

var workbookContent = {
  version: 'Notebook/1.0'
  items: [for (tile, i) in tiles: {
    type: 3
    name: 'tile-${i}'
    content: {
      version: 'KqlItem/1.0'
      title: tile.title
      query: tile.query
      size: 0
      queryType: 0
      resourceType: 'microsoft.operationalinsights/workspaces'
      visualization: tile.visualization
    }
  }]
  fallbackResourceIds: [
    workspace.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, name, 'webhooks-workbook')
  location: location
  kind: 'shared'
  properties: {
    displayName: 'Webhooks into Log Analytics (${name})'
    category: 'workbook'
    sourceId: workspace.id
    serializedData: string(workbookContent)
  }
  dependsOn: [
    tables
    skytapRegionName
  ]
}

output AZURE_FUNCTION_APP_NAME string = app.name
output FUNCTION_APP_URL string = 'https://${app.properties.defaultHostName}/api'
output LOG_ANALYTICS_WORKSPACE_RESOURCE_ID string = workspace.id
output LOGS_INGESTION_DCR_ID string = dataCollectionRule.properties.immutableId
