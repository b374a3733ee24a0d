// Test processes print no CloudWatch EMF metric lines and no request logs unless asked to.
process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';
process.env['POWERTOOLS_LOG_LEVEL'] ??= 'SILENT';
