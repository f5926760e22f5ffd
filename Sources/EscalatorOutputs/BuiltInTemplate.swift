/// The default mail template, as shipped in Config/templates/notice.mustache (a test keeps them identical).
enum BuiltInTemplate {
    static let notice = #"""
{{% CONTENT_TYPE: TEXT}}
Hello {{recipient.name}},

{{headline}}

Case        {{case.id}} ({{case.kind}})
Status      {{case.status}}
Owner       {{case.owner}}
Opened      {{case.opened}}
{{#case.promised}}
Promised    {{case.promised}}
{{/case.promised}}

What is wrong
  Policy    {{notice.policy}}: {{notice.measure}}
{{#notice.subjectText}}
  About     {{notice.subjectText}}
{{/notice.subjectText}}
{{#breach.at}}
  Breached  {{breach.at}} ({{breach.overdue}} of working time ago)
{{/breach.at}}
{{^breach.at}}
  Due       {{notice.due}}
{{/breach.at}}
{{#missed.count}}
  While escalator could not act, {{missed.count}} earlier step(s) fell due; this message stands for them.
{{/missed.count}}

What we ask of you
  {{expected}}

Recent activity
{{#activity}}
  {{at}}  {{kind}}{{#actor}} by {{actor}}{{/actor}}{{#text}}: {{text}}{{/text}}
{{/activity}}
{{^activity}}
  (none recorded)
{{/activity}}

Notified so far
{{#history}}
  {{at}}  step {{step}} to {{to}}
{{/history}}
{{^history}}
  (nobody before this message)
{{/history}}

If someone is on it, acknowledge to stop the climb for a while:
  {{ack}}

-- 
escalator, notice {{notice.id}}

"""#
}
