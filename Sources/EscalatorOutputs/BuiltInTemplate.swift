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
{{#missed}}
  While escalator could not act, {{count}} earlier step(s) fell due; this message stands for them.
{{/missed}}

What we ask of you
  {{expected}}

Recent activity
{{#activity}}
  {{at}}  {{kind}}{{#actor}} by {{actor}}{{/actor}}{{#text}}: {{text}}{{/text}}
{{/activity}}
{{^activity}}
  (none recorded)
{{/activity}}

Earlier notices
{{#history}}
  {{at}}  step {{step}}
{{/history}}
{{^history}}
  (none: this is the first)
{{/history}}
{{#notified}}
  People notified so far: {{notified}}
{{/notified}}

If someone is on it, acknowledge to stop the climb for a while:
  {{ack}}

-- 
escalator, notice {{notice.id}}

"""#
}
