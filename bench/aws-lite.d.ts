// @aws-lite/dynamodb ships no types; the evaluation bench only calls GetItem through the client.
declare module '@aws-lite/dynamodb';
